"""GET /api/v1/models and /api/v1/models/{name}."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bridge import payloads
from bridge.routes.context import clients
from mochi_grpc._gen.mochi.v1 import model_service_pb2 as pb


async def list_models(request: Request) -> JSONResponse:
    response = await clients(request).models.ListModels(pb.ListModelsRequest())
    return JSONResponse({"models": [payloads.model(m) for m in response.models]})


async def get_model(request: Request) -> JSONResponse:
    name = request.path_params["model_name"]
    response = await clients(request).models.GetModel(pb.GetModelRequest(name=name))
    return JSONResponse(payloads.model(response.model))


routes = [
    Route("/models", list_models, methods=["GET"]),
    Route("/models/{model_name:path}", get_model, methods=["GET"]),
]
