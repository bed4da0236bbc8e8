from django.urls import path

from conversations import views

app_name = "conversations"
urlpatterns = [
    path("", views.conversation_list, name="list"),
    path("upload/", views.upload, name="upload"),
    path("conversations/<int:pk>/", views.conversation_detail, name="detail"),
]
