pytest_plugins = ["deltaspace.testing.postgres"]
