"""Who may call the operator REST API, and as what role: the one rule every operator
endpoint applies (`tenant_for`, `OperatorView`).

Two kinds of caller, with the same three roles (viewer reads, operator acts, admin sets
policy):

* a person of the portal (session or HTTP Basic): the role of their membership in the
  tenant in the URL (a superuser: admin everywhere);
* a client of the tenant's own authorization server, with an access token it obtained
  for itself (client_credentials): the role its scopes grant — `operator:read` viewer,
  `operator:write` operator, `operator:admin` admin, the highest one counting. The
  authentication class (`oauth.authentication.BearerTokenAuthentication`, in the
  settings' defaults) verified the token against the tenant in the URL already; it
  reaches us through `lib.access.GrantedToken`, since `csms` does not import `oauth`.

A token issued on a person's behalf is refused: an app a driver or staff member
approved must not inherit that person's fleet powers through a scope it asked for.
A caller with no role in the tenant gets 404, as if it did not exist.
"""
from django.http import Http404
from django_filters import rest_framework as filters
from rest_framework import generics
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS

from lib.access import GrantedToken
from lib.api import BoundedCursorPagination, InsufficientScope
from tenants.models import ROLE_RANK, Membership, Role, Tenant

SCOPE_OF_ROLE = {Role.VIEWER: "operator:read", Role.OPERATOR: "operator:write", Role.ADMIN: "operator:admin"}
ROLE_OF_SCOPE = {scope: role for role, scope in SCOPE_OF_ROLE.items()}


def role_of_scopes(scopes) -> Role | None:
    """The highest role the operator scopes among `scopes` grant; None: none of them."""
    roles = [ROLE_OF_SCOPE[s] for s in scopes if s in ROLE_OF_SCOPE]
    return max(roles, key=ROLE_RANK.__getitem__, default=None)


def _token_of(request) -> GrantedToken | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, GrantedToken) else None


def tenant_for(request, slug: str, role: str) -> Tenant:
    """The tenant in the URL, if the caller holds at least `role` in it: 404 if it has no
    role there (or the tenant does not exist), 403 if its role is too small."""
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise Http404
    token = _token_of(request)
    if token is not None:
        _check_token(token, slug, role)
        return tenant
    if request.user.is_superuser:
        return tenant
    membership = Membership.objects.filter(user=request.user, tenant=tenant).first()
    if membership is None:
        raise Http404  # do not reveal other tenants
    if not membership.allows(role):
        raise PermissionDenied(f"this needs the {role} role in {slug}")
    return tenant


def _check_token(token: GrantedToken, slug: str, role: str) -> None:
    if token.for_user:
        raise PermissionDenied("the operator API takes a client's own access token (client_credentials), "
                               "not one issued on a person's behalf")
    held = role_of_scopes(token.scopes)
    if held is None or ROLE_RANK[held] < ROLE_RANK[Role(role)]:
        scope = SCOPE_OF_ROLE[Role(role)]
        raise InsufficientScope([scope], f"this needs the scope {scope} (the {role} role in {slug})")


def actor(request) -> str:
    """Who the audit log names: the person's username, or `client:<client_id>`."""
    token = _token_of(request)
    if token is not None:
        return f"client:{token.client_id}"
    return request.user.get_username()


class OperatorView(generics.GenericAPIView):
    """Base of the operator endpoints: the tenant is resolved after authentication, with
    `read_role` for GET/HEAD and `write_role` for anything else; lists are cursor-paged
    and filtered by their FilterSet; nothing is cached on the way."""

    read_role = Role.VIEWER
    write_role = Role.OPERATOR
    tenant: Tenant | None = None  # set by initial(); None while the schema is generated
    model = None  # what the view serves, for the schema and `get_queryset`
    pagination_class = BoundedCursorPagination
    filter_backends = [filters.DjangoFilterBackend]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        role = self.read_role if request.method in SAFE_METHODS else self.write_role
        self.tenant = tenant_for(request, kwargs["tenant"], role)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response.setdefault("Cache-Control", "no-store")
        return response

    def actor(self) -> str:
        return actor(self.request)

    def get_queryset(self):
        return self.scoped(self.model)

    def scoped(self, model):
        """`model`'s rows of the tenant in the URL (none while the schema is generated)."""
        if self.tenant is None:
            return model.objects.none()
        return model.objects.for_tenant(self.tenant)
