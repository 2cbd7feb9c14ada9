"""OpenAPI pieces the billing API's views share: the error shape every 4xx/5xx answer has
(`common.errors.error_body`), the `Retry-After` header of 429 and 503, and `ClosedSerializer` for inputs
that take no keys but their own."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import Direction, OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class FieldErrorOut(serializers.Serializer[Any]):
    field = serializers.CharField(help_text='the field at fault, e.g. "events[3].quantity"; "" for the body')
    message = serializers.CharField()


class ErrorOut(serializers.Serializer[Any]):
    error = serializers.CharField(help_text="machine-readable code, e.g. invalid, not_authenticated")
    message = serializers.CharField(help_text="for people")
    errors = FieldErrorOut(  # type: ignore[assignment]  # a field; DRF's metaclass takes it off the class
        many=True, required=False, help_text="the fields at fault, when there are"
    )
    retry_after = serializers.IntegerField(required=False, help_text="429 and 503: seconds, as Retry-After")
    limit = serializers.IntegerField(required=False, help_text="413 by number of events: the limit")
    limit_bytes = serializers.IntegerField(required=False, help_text="413 by size: the limit")


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorOut, description=description)


RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    required=True,
    response=[429, 503],
    description="seconds to wait before retrying",
)


# An input object that takes its declared keys only (the view refuses any other): its schema says
# `additionalProperties: false`, so the schema and the behaviour agree. (A comment, not a docstring:
# drf-spectacular would print a base class's docstring as the description of every subclass.)
class ClosedSerializer(serializers.Serializer[Any]):
    pass


class ClosedSerializerExtension(OpenApiSerializerExtension):  # type: ignore[no-untyped-call]
    target_class = ClosedSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: AutoSchema, direction: Direction) -> dict[str, Any]:
        schema = auto_schema._map_serializer(  # type: ignore[no-untyped-call]
            self.target, direction, bypass_extensions=True
        )
        return {**schema, "additionalProperties": False}
