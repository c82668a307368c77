"""The web app: the app factory, public pages, the console, the HTTP API, provider webhooks."""
