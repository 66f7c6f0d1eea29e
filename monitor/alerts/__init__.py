"""Alerts: which notifiers get a story's matches (plan), sending and digests (deliver), what a
failed delivery means (retry), and the words of feed-health messages (health)."""
