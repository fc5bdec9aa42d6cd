from typing import TYPE_CHECKING

from django.contrib import admin

from accounts.models import Membership, User, Workspace

if TYPE_CHECKING:
    # Generic in django-stubs only: Django's admin classes cannot be subscripted at run time.
    UserAdminBase = admin.ModelAdmin[User]
    MembershipInlineBase = admin.TabularInline[Membership, Workspace]
    WorkspaceAdminBase = admin.ModelAdmin[Workspace]
else:
    UserAdminBase = WorkspaceAdminBase = admin.ModelAdmin
    MembershipInlineBase = admin.TabularInline


@admin.register(User)
class UserAdmin(UserAdminBase):
    list_display = ("email", "name", "is_active", "is_staff", "date_joined")
    search_fields = ("email", "name")
    exclude = ("password",)


class MembershipInline(MembershipInlineBase):
    model = Membership
    extra = 0


@admin.register(Workspace)
class WorkspaceAdmin(WorkspaceAdminBase):
    list_display = ("name", "code", "created_at")
    inlines = [MembershipInline]
