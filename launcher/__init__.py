"""The composition root: the `warmnet` command and the demo supervisor wire the
components into processes. Nothing imports this package."""
