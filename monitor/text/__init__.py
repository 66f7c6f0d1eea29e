"""Text: item HTML to the story format's paragraphs (normalize) and back from story files,
page text (pagetext), named feed furniture, and the tokenizer every match and index uses."""
