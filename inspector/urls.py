from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

# Log in and out only: Django's password-reset views would send mail through whatever SMTP server
# the defaults name to anyone who types an address; admins reset passwords in the admin.
accounts = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]

urlpatterns = [
    path("accounts/", include(accounts)),
    path("admin/", admin.site.urls),
    path("api/", include("conversations.api.urls")),
    path("", include("conversations.urls")),
]
