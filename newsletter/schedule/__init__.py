"""The scheduler: due periods, dispatch, draining, one-off sends, heartbeats and its status."""
