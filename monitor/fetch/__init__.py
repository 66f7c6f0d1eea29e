"""The HTTP edge for feeds and pages: the fetcher (conditional GET, redirects by hand, a
total deadline, bounded bodies), its lean HTTP/1.1 transport, and the connect-time address
check for pages named by feeds."""
