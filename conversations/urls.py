from django.urls import path

from conversations import views

app_name = "conversations"
urlpatterns = [
    path("", views.conversation_list, name="list"),
    path("upload/", views.upload, name="upload"),
    path("conversations/<int:pk>/", views.conversation_detail, name="detail"),
    path("conversations/<int:pk>.json", views.conversation_json, name="detail-json"),
    path("conversations/<int:pk>/messages/<int:index>/raw/", views.message_raw, name="raw"),
    path("conversations/<int:pk>/wire/<str:target>/", views.wire_request, name="wire"),
    path("conversations/<int:pk>/diff/", views.revision_diff, name="diff"),
    path("conversations/<int:pk>/route/", views.route_check, name="route"),
    path("conversations/<int:pk>/explain/", views.error_explain, name="explain"),
    path("conversations/<int:pk>/repair/", views.conversation_repair, name="repair"),
    path("conversations/<int:pk>/resume/", views.conversation_resume_view, name="resume"),
    path("conversations/<int:pk>/revisions/<int:number>/restore/", views.revision_restore_view, name="restore"),
    path("conversations/<int:pk>/revisions/<int:number>/writeback/", views.revision_writeback, name="writeback"),
    path("conversations/<int:pk>/revisions/<int:number>/download/", views.revision_download, name="download"),
]
