from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path

from chat import views

urlpatterns = [
    path("", views.room, name="room"),
    path("announce/", views.announce, name="announce"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]

# With DEBUG on, Django serves the static files (the admin's CSS, chat.js)
# itself; with DEBUG off, collectstatic and `twistd txsocketio --static staticfiles`.
urlpatterns += staticfiles_urlpatterns()
