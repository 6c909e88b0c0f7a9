"""The RPCs to fuzz: every method of every service in the generated mochi.v1
package, read from the descriptors, so a new one is fuzzed unasked."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any

from google.protobuf import message_factory
from google.protobuf.message import Message

import mochi_grpc._gen.mochi.v1 as generated


@dataclass(frozen=True, repr=False)
class Rpc:
    service: str
    name: str
    request: type[Message]
    response: type[Message]
    streaming: bool

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.name}"

    def __repr__(self) -> str:
        return f"{self.service.removeprefix('mochi.v1.')}.{self.name}"


# Descriptors come from protobuf's Python classes or from upb's, typed apart.
Descriptor = Any
FieldDescriptor = Any


def _message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def all_rpcs() -> list[Rpc]:
    """Every method of every service in the generated mochi.v1 package."""
    rpcs = []
    for module_info in sorted(pkgutil.iter_modules(generated.__path__), key=lambda m: m.name):
        if not module_info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"{generated.__name__}.{module_info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                assert not method.client_streaming, f"{method.full_name}: fuzz it as a stream"
                rpcs.append(
                    Rpc(
                        service.full_name,
                        method.name,
                        _message_class(method.input_type),
                        _message_class(method.output_type),
                        method.server_streaming,
                    )
                )
    return rpcs
