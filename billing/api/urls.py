from django.urls import path

from .quotes import QuoteView

urlpatterns = [
    path("quotes", QuoteView.as_view(), name="quote"),
]
