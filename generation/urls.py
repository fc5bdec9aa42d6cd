from django.urls import path

from generation.views import gallery, generate, history, images, personas, reconciliation, workspace

app_name = "generation"

urlpatterns = [
    path("personas/", personas.persona_list, name="personas"),
    path("personas/new/", personas.add_persona, name="add-persona"),
    path("personas/<uuid:code>/", personas.persona_detail, name="persona"),
    path("personas/<uuid:code>/duplicate/", personas.duplicate_persona, name="duplicate-persona"),
    path("personas/<uuid:code>/delete/", personas.delete_persona, name="delete-persona"),
    path("personas/<uuid:code>/references/", personas.upload_references, name="upload-references"),
    path("references/<uuid:code>/", images.reference_file, name="reference"),
    path("references/<uuid:code>/delete/", personas.delete_reference, name="delete-reference"),
    path("generate/", generate.generate, name="generate"),
    path("generate/quote/", generate.quote, name="quote"),
    path("generations/<uuid:code>/", generate.generation_detail, name="detail"),
    path("generations/<uuid:code>/status/", generate.generation_status, name="status"),
    path("generations/<uuid:code>/cancel/", generate.cancel_generation, name="cancel"),
    path("generations/<uuid:code>/preview/", images.generation_preview, name="preview"),
    path("gallery/", gallery.gallery, name="gallery"),
    path("gallery/download/", gallery.download, name="gallery-download"),
    path("gallery/<uuid:code>/", gallery.image_viewer, name="gallery-image"),
    path("gallery/<uuid:code>/favourite/", gallery.favourite, name="favourite"),
    path("gallery/<uuid:code>/delete/", gallery.delete, name="delete-image"),
    path("workspace/", workspace.workspace_settings, name="workspace"),
    path("workspace/delete/", workspace.delete_workspace, name="delete-workspace"),
    path("images/<uuid:code>/", images.image_file, name="image"),
    path("images/<uuid:code>/thumb/", images.image_thumbnail, name="thumbnail"),
    path("usage/", history.history, name="history"),
    path("usage.csv", history.history_csv, name="history-csv"),
    path("usage/reconcile/", reconciliation.reconcile_now, name="reconcile"),
    path("usage/reconciliations/<uuid:code>/", reconciliation.reconciliation_detail, name="reconciliation"),
    path("usage/key-matches/", reconciliation.choose_key_match, name="key-match"),
]
