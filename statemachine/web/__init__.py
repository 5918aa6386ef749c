"""The reviewer's side: an inbox in the browser and a JSON API over a store's runs
(``pip install hitl-statemachine[web]``; ``statemachine serve``). Imported only when asked for:
``import statemachine`` never loads it."""

from statemachine.core.refusals import ActorRefused
from statemachine.web.app import create_app
from statemachine.web.auth import Authenticator, Signer, User, Users, from_environment

__all__ = [
    "ActorRefused",
    "Authenticator",
    "Signer",
    "User",
    "Users",
    "create_app",
    "from_environment",
]
