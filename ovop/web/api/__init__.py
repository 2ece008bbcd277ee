"""The staff JSON API under /api/v1: bearer-token auth, JSON errors, one section per resource."""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, g, jsonify, render_template, request, url_for
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ovop.web import inputs
from ovop.web.api import openapi as description
from ovop.core.db import Database
from ovop.core.errors import Invalid, Refusal, english
from ovop.domain import schemas
from ovop.web.request_limits import limit_body

bp = Blueprint("api", __name__, url_prefix="/api/v1", template_folder="templates")
# The largest body a staff tool needs to send is a broadcast in three languages (3 × 1,600 characters, under
# 30 KB even with every character escaped); more is refused with 413 before it is read.
MAX_BODY = 128 * 1024


class ApiError(Exception):
    """An error answered as JSON {"error": message} with an HTTP status."""

    def __init__(self, status: int, message: str, **details):
        super().__init__(message)
        self.status, self.message, self.details = status, message, details


@bp.errorhandler(ApiError)
def _api_error(error: ApiError):
    return jsonify(error=error.message, **error.details), error.status


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_error):
    return jsonify(error=f"the body is larger than {MAX_BODY} bytes, the limit of the API"), 413


@bp.errorhandler(DataError)
def _refused_by_database(_error: DataError):
    # Every value is checked before it is written; this catches what slipped through (a value out of range).
    return {"error": "a value was refused by the database; check the values sent"}, 400


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    # Staff tools parse our answers: even a 404 or 405 is JSON, never Werkzeug's HTML page.
    return jsonify(error=error.description or error.name), error.code


@bp.errorhandler(Refusal)
def _refused(error: Refusal):
    """Input refused by a schema or the domain: 422 (409 for a value taken), the field, the code and its
    parameters, and the reason in English for a person reading the answer."""
    params = {key: value if isinstance(value, (str, int, float, bool, list)) else str(value)
              for key, value in error.params.items()}
    return {"error": f"{error.field}: {english(error.code, params)}", "field": error.field, "code": error.code,
            "params": params}, error.status


@bp.errorhandler(IntegrityError)
def _conflict(_error: IntegrityError):
    # Checks run before every write; reaching here means a concurrent request took the same value first.
    return {"error": "conflicts with a change made at the same moment (duplicate?); try again"}, 409


@bp.before_app_request
def _unknown_route():
    """A JSON 404/405 for paths under /api/v1 that match no route (blueprint handlers never see those)."""
    error = request.routing_exception
    if getattr(error, "code", None) in (404, 405) and request.path.startswith(f"{bp.url_prefix}/"):
        response = jsonify(error=f"no route {request.method} {request.path}" if error.code == 404
                           else f"{request.method} is not allowed on {request.path}")
        response.status_code = error.code
        if error.code == 405:
            response.headers["Allow"] = ", ".join(error.valid_methods or ())
        return response
    return None


@bp.before_request
def _authorise():
    """Every call carries `Authorization: Bearer $ADMIN_TOKEN`; its query string must hold storable text."""
    limit_body(MAX_BODY)  # before anything reads the body
    if request.endpoint == "api.openapi_json":
        return None
    expected = current_app.config["ADMIN_TOKEN"]
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise ApiError(401, "missing or wrong bearer token")
    field = inputs.first_unstorable(request.args.lists()) or inputs.first_unstorable(
        (name, [value]) for name, value in (request.view_args or {}).items() if isinstance(value, str))
    if field is not None:
        raise Invalid(field, inputs.CODE)
    g.db = current_app.extensions["ovop"].db


def database() -> Database:
    return g.db


def json_body() -> dict:
    """The request's JSON object, or a 400/422 that says what was wrong with it."""
    data = request.get_json(silent=True)  # nested past Python's limit: 400 (app.OvopRequest)
    if data is None:
        raise ApiError(400, "the body must be JSON (Content-Type: application/json)")
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    problem = inputs.json_problem(data)
    if problem is not None:
        field, code = problem
        if code != inputs.CODE:
            raise ApiError(400, f"the body is nested more than {inputs.MAX_DEPTH} levels deep", field=field)
        raise Invalid(field, code)
    return data


def query(schema: type[schemas.Query]):
    """The query string checked against `schema` (an empty value is none; paging parameters are read apart)."""
    return schemas.parse_query(schema, request.args.to_dict())


@bp.get("/openapi.json")
def openapi_json():
    """The API's OpenAPI 3.1 description; public, as it holds no data."""
    return jsonify(description.document(current_app))


def docs():
    """The docs page: the same description as a page, server-rendered, nothing fetched from elsewhere."""
    return render_template("api_docs.html", openapi_url=url_for("api.openapi_json"),
                           **description.pages(description.document(current_app)))


# At /api/docs, beside the versioned API rather than in it; public like the description.
bp.record_once(lambda state: state.app.add_url_rule("/api/docs", "api_docs", docs))


# Resources register their routes on `bp` when imported.
from ovop.web.api import catalogue as api_catalogue  # noqa: E402,F401  (cooperatives, products)
from ovop.web.api import producers as api_producers  # noqa: E402,F401  (producers)
from ovop.web.api import messages as api_messages  # noqa: E402,F401  (message log)
from ovop.web.api import orders as api_orders  # noqa: E402,F401  (orders and their answers)
from ovop.web.api import workshops as api_workshops  # noqa: E402,F401  (workshops, registrations, attendance)
from ovop.web.api import prices as api_prices  # noqa: E402,F401  (price observations)
from ovop.web.api import broadcasts as api_broadcasts  # noqa: E402,F401  (broadcasts and their preview)
from ovop.web.api import stock as api_stock  # noqa: E402,F401  (stock levels, the ledger, staff corrections)
from ovop.web.api import conversations as api_conversations  # noqa: E402,F401  (the staff inbox)
