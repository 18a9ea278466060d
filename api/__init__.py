"""The warmnet API: rider availability (live, from the collector's retained
availability topics), health and readiness, and the rider web page.

Stateless: every replica rebuilds its live view from the retained MQTT summaries.
"""
