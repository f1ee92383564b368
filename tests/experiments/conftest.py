from tests.support.commands import database  # noqa: F401 - the fixture, for this package
