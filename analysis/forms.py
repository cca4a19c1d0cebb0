"""Forms of the analysts' pages; they only parse input, the services decide."""

from django import forms
from django.conf import settings

from .dataset_formats import ACCEPTED

NO_DATASET = "Choose at least one dataset to ask about."


class DatasetChoiceForm(forms.Form):
    """A question and the datasets it is about, chosen explicitly (the page renders them as a fieldset)."""

    datasets = forms.MultipleChoiceField(
        label="Datasets to use",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": NO_DATASET},
        help_text="The code reads only the datasets you tick.",
    )

    def __init__(self, *args, datasets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["query"].max_length = settings.SANDGATE_MAX_QUERY_CHARS
        self.fields["query"].widget.attrs["maxlength"] = settings.SANDGATE_MAX_QUERY_CHARS
        self.fields["datasets"].choices = [(str(d.pk), d.name) for d in datasets]


class AskForm(DatasetChoiceForm):
    query = forms.CharField(
        label="Your question",
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "e.g. Plot monthly revenue by region"}),
        help_text="Plain language is fine. A reviewer checks the code before it runs.",
    )
    field_order = ["query", "datasets"]


class FollowUpForm(DatasetChoiceForm):
    query = forms.CharField(
        label="Ask a follow-up",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "e.g. Now only for 2024"}),
        help_text="It sees the earlier questions and code of this session.",
    )
    field_order = ["query", "datasets"]


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
