"""tracker: an event-sourced tracker of SMS delivery statuses sent by the Webcom Mobi webhook."""
