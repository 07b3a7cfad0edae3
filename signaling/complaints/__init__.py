"""Complaints and follow-up: filed at the kiosk, answered by the department's supervisors,
looked up by number and access code at any kiosk or on the public phone page."""
