"""One poll: claim the due feeds, fetch, parse, read full articles, store (poller); and the
pure policy of what an outcome means for a feed (decide) and when it is polled next
(schedule, backlog)."""
