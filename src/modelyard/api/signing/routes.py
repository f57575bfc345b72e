"""Model signing verdicts (issue 20, item 4), MLflow's `{error_code, message}` envelope.

    GET  /api/modelyard/v1/models/{name}/versions/{version}/signing
        {"name", "version", "signed", "status", "signer", "detail", "verified_at",
         "trusted_signers"}
    POST /api/modelyard/v1/models/{name}/versions/{version}/signing
        verify a READY version again, against the signers trusted now (MANAGE); same answer

`signed` is what the policy key `signed` reads; `status` one of VERIFIED, UNSIGNED,
UNTRUSTED_SIGNER, FILES_MISMATCH, INVALID, UNSUPPORTED, NOT_VERIFIED (domain/model_signing.py);
`trusted_signers` how many keys and CA certificates the server trusts (`--trusted-signers`; an
UNTRUSTED_SIGNER detail names the same counts): with none, every version is unsigned.
Not the MLmodel's schema signature (that is in the version's MLmodel file).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from modelyard.api.identity.endpoint import endpoint
from modelyard.api.mlflow.params import Params
from modelyard.domain.catalog import UcVersion
from modelyard.domain.model_signing import Signing
from modelyard.services.context import Actor
from modelyard.services.model_signing import ModelSigningService

PATH = "/api/modelyard/v1/models/{name}/versions/{version}/signing"


def get_signing(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    service: ModelSigningService = request.app.state.model_signing
    version, signing = service.get(actor, request.path_params["name"],
                                   request.path_params["version"])
    return _answer(service, version, signing)


async def verify_signing(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    service: ModelSigningService = request.app.state.model_signing
    # Off the event loop: it reads model.sig from storage.
    version, signing = await run_in_threadpool(service.verify_again, actor,
                                               request.path_params["name"],
                                               request.path_params["version"])
    return _answer(service, version, signing)


def _answer(service: ModelSigningService, version: UcVersion, signing: Signing
            ) -> dict[str, Any]:
    return {"name": version.full_name, "version": version.version, **signing.as_dict(),
            "trusted_signers": service.trusted.count}


def routes() -> list[BaseRoute]:
    return [Route(PATH, endpoint(get_signing), methods=["GET"]),
            Route(PATH, endpoint(verify_signing), methods=["POST"])]
