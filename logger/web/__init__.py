"""The HTTP API and the dashboard (issue 11); ``logger.web.sql`` answers ``POST /api/sql``."""
