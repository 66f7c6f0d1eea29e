"""Full articles: which items want their page and the per-poll reader (fulltext), fetching
pages named by feeds (pages), and page HTML to the article's text (extract, with its body
scorer, metadata, rendering and paragraphs)."""
