from __future__ import annotations

from django.urls import path

from projects import views

# Under /ui/: the dashboard's project pages (the list is the dashboard's home).
urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("projects/new/", views.project_new, name="project-new"),
    path("projects/<str:project_id>/edit/", views.project_edit, name="project-edit"),
    path("projects/<str:project_id>/delete/", views.project_delete_confirm, name="project-delete"),
]
