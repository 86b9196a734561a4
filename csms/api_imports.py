"""`POST /tenants/<t>/station-imports/`: register stations from a CSV file, as `station
import` does (`csms.station_import`): the whole file is checked before anything is
written; a bad file is a problem+json 400 listing every problem by line (never a key's
value), a good one a 201 summary.

The CSV comes as a multipart `file` or as the `csv` text of a JSON body. Bounded: a
request takes at most MAX_ROWS rows and MAX_BYTES bytes (hashing an operator's keys with
argon2 takes a while; a larger fleet goes in several requests, or through the CLI).
"""
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from lib.api import Conflict, JSONBodyParser

from . import station_import
from .api import validated
from .api_access import OperatorView
from .auth import keys
from .models import Station

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 1000


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text="the CSV file (multipart/form-data)")
    csv = serializers.CharField(required=False, max_length=MAX_BYTES, trim_whitespace=False,
                                help_text="the CSV text (application/json)")
    master_key = serializers.CharField(required=False, max_length=40, write_only=True,
                                       help_text="the series/master key (hex) the rows without a key come with")
    keys_are_random = serializers.BooleanField(default=False, help_text="attest the keys were drawn from a CSPRNG")
    skip_existing = serializers.BooleanField(default=False, help_text="leave stations that exist alone")

    def validate(self, data):
        if ("file" in data) == ("csv" in data):
            raise serializers.ValidationError({"file": ["give either file or csv"]})
        if "master_key" in data:
            try:
                data["master_key"] = keys.parse_hex_key(data["master_key"])
            except ValueError as exc:
                raise serializers.ValidationError({"master_key": [str(exc)]}) from None
        return data


class ImportedSerializer(serializers.Serializer):
    imported = serializers.IntegerField()
    with_key = serializers.IntegerField()
    onboarding = serializers.IntegerField()
    skipped = serializers.IntegerField()


def csv_text(body: dict) -> str:
    if "csv" in body:
        return body["csv"]
    upload = body["file"]
    if upload.size > MAX_BYTES:
        raise exceptions.ValidationError({"file": [f"at most {MAX_BYTES} bytes per request"]})
    try:
        return station_import.decode(upload.read(), upload.name or "the file")
    except station_import.FileRefused as exc:
        raise exceptions.ValidationError({"file": [str(exc)]}) from None


class StationImports(OperatorView):
    serializer_class = ImportedSerializer
    model = Station
    parser_classes = [JSONBodyParser, MultiPartParser, FormParser]

    @extend_schema(summary="Register stations from a CSV file (identity, optional protocols and key), all or "
                           "none", request={"multipart/form-data": ImportRequestSerializer,
                                            "application/json": ImportRequestSerializer},
                   responses={201: ImportedSerializer})
    def post(self, request, tenant):
        body = validated(ImportRequestSerializer, request)
        master = body.get("master_key")
        try:
            checked = station_import.check_file(self.tenant, csv_text(body), master, max_rows=MAX_ROWS,
                                                keys_are_random=body["keys_are_random"],
                                                skip_existing=body["skip_existing"])
        except station_import.FileRefused as exc:
            raise exceptions.ValidationError({"file": [str(exc)]}) from None
        if checked.errors:
            raise exceptions.ValidationError({"rows": station_import.shown_errors(checked.errors)})
        try:
            summary = station_import.run(self.tenant, checked, master, keys_are_random=body["keys_are_random"],
                                         actor=self.actor())
        except station_import.WrittenMeanwhile as exc:
            raise Conflict(str(exc)) from None
        return Response(summary, status=status.HTTP_201_CREATED)
