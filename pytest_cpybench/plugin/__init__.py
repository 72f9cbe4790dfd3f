"""The pytest plugin: hooks, benchmark items, and the controller, worker and host roles."""
