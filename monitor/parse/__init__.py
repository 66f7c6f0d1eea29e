"""Feed bytes to entries: RSS, Atom and RDF through feedparser (feed), plain RSS 2.0 by a
fast path (fastrss), JSON Feed (jsonfeed), and what a body that is not a feed is (sniff)."""
