from __future__ import annotations

from django.contrib.auth.forms import UserCreationForm

from .models import User


class SignupForm(UserCreationForm):  # type: ignore[type-arg]
    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")
