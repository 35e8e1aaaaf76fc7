"""The dashboard's sign-in pages: sign in, sign out, and the first-run form that makes the
first user. They matter only when auth is on (`conductor_site.auth.sign_in_required`); the
pages themselves live in the apps they show (`projects.views`, `tasks.views`, `runs.views`).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import LoginView, LogoutView
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from conductor_site.auth import from_loopback, sign_in_required


def no_user_yet() -> bool:
    return not get_user_model().objects.exists()


def first_run_open(request: HttpRequest) -> bool:
    """The first-run form makes the first user: only while auth is on, no user exists, and
    from this machine (anyone else would make themselves the admin)."""
    return sign_in_required() and no_user_yet() and from_loopback(request)


class SignInView(LoginView):
    template_name = "ui/sign_in.html"
    redirect_authenticated_user = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not sign_in_required():
            return redirect(settings.LOGIN_REDIRECT_URL)
        if first_run_open(request):
            return redirect("first-run")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "no_user_yet": no_user_yet()}


class SignOutView(LogoutView):
    next_page = settings.LOGIN_URL


class FirstUserForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ("username",)


@require_http_methods(["GET", "POST"])
def first_run(request: HttpRequest) -> HttpResponse:
    if not first_run_open(request):
        return redirect("sign-in")
    form = FirstUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            if not no_user_yet():  # another tab made it meanwhile
                return redirect("sign-in")
            user = form.save(commit=False)
            user.is_staff = user.is_superuser = True
            user.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "ui/first_run.html", {"form": form})
