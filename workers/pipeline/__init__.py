"""The document-summary workflow: choreography that turns one service's facts into the next one's request."""
