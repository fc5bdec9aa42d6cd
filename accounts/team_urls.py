"""Teams' pages (accounts/team_views.py), under /workspace/ beside the workspace page, and the invitation link."""

from django.urls import path

from accounts import team_views

app_name = "teams"

urlpatterns = [
    path("workspace/members/", team_views.members, name="members"),
    path("workspace/members/invite/", team_views.invite, name="invite"),
    path("workspace/members/two-factor/", team_views.require_two_factor, name="require-two-factor"),
    path("workspace/members/<uuid:code>/role/", team_views.change_role, name="change-role"),
    path("workspace/members/<uuid:code>/remove/", team_views.remove_member, name="remove-member"),
    path("workspace/members/<uuid:code>/transfer/", team_views.transfer_ownership, name="transfer"),
    path("workspace/invitations/<uuid:code>/revoke/", team_views.revoke_invitation, name="revoke-invitation"),
    path("workspace/invitations/<uuid:code>/resend/", team_views.resend_invitation, name="resend-invitation"),
    path("workspace/leave/", team_views.leave, name="leave"),
    path("workspace/new/", team_views.new_workspace, name="new-workspace"),
    path("workspace/switch/", team_views.switch_workspace, name="switch-workspace"),
    path("workspace/log/", team_views.audit_log, name="log"),
    path("invitations/<str:token>/", team_views.invitation, name="invitation"),
]
