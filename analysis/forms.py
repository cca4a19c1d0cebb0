"""Forms of the analysts' pages; they only parse input, the services decide."""

from django import forms
from django.conf import settings

from .dataset_formats import ACCEPTED


class AskForm(forms.Form):
    query = forms.CharField(
        label="Your question",
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "e.g. Plot monthly revenue by region"}),
        help_text="Plain language is fine. A reviewer checks the code before it runs.",
    )
    datasets = forms.MultipleChoiceField(
        label="Datasets to use",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: the datasets your question names (or your team's only one).",
    )

    def __init__(self, *args, datasets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["query"].max_length = settings.SANDGATE_MAX_QUERY_CHARS
        self.fields["query"].widget.attrs["maxlength"] = settings.SANDGATE_MAX_QUERY_CHARS
        self.fields["datasets"].choices = [(str(d.pk), d.name) for d in datasets]


class FollowUpForm(forms.Form):
    query = forms.CharField(
        label="Ask a follow-up",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "e.g. Now only for 2024"}),
        help_text="It sees the earlier questions and code of this session.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["query"].max_length = settings.SANDGATE_MAX_QUERY_CHARS


class DatasetUploadForm(forms.Form):
    file = forms.FileField(
        label="Data file",
        help_text=f"{ACCEPTED} — up to {settings.SANDGATE_MAX_DATASET_MB} MB; text files in UTF-8.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx,.parquet,.json"}),
    )
    allow_sample_sharing = forms.BooleanField(
        label="Share a few sample rows with the code-writing model",
        required=False,
        help_text="Off: the model only sees column names, types and the row count.",
    )
