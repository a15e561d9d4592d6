"""Publishing: claiming due publications, calling the platforms, and recording what happened."""
