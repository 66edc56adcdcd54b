"""The `client` and `page` fixtures of a browser test module that runs its own stack: import
them beside a module-scoped `stack` fixture (pytest resolves `stack` in the importing
module). The stack itself stops when the module ends (`conftest._module_children`)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.support import Stack
from tests.test_browser import _page


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as opened:
        yield opened


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    yield from _page(browser, stack.url)
