"""Content: parse articles from feeds, pages and files, clean them, tag topics, store them."""
