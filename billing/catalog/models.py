"""What can be metered and sold: meters and SKUs."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Meter(models.Model):
    class Aggregation(models.TextChoices):
        SUM = "sum", "Sum of quantities"
        COUNT = "count", "Number of events"
        MAX = "max", "Maximum quantity"
        UNIQUE_COUNT = "unique_count", "Distinct values of a tag"
        LATEST = "latest", "Latest quantity"

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    unit = models.CharField(max_length=32, help_text="e.g. request, GB, GB-month, vCPU-hour, EUR")
    aggregation = models.CharField(max_length=16, choices=Aggregation.choices, default=Aggregation.SUM)
    unique_tag = models.CharField(
        max_length=64, blank=True, help_text="for unique_count: the tag whose distinct values are counted"
    )
    allow_negative = models.BooleanField(default=False, help_text="accept negative quantities (adjustments)")

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(aggregation="unique_count") | ~Q(unique_tag=""),
                name="meter_unique_count_needs_tag",
            )
        ]

    def __str__(self) -> str:
        return self.code


class Sku(models.Model):
    class ServiceCategory(models.TextChoices):
        """FOCUS 1.x ServiceCategory values."""

        AI_ML = "AI and Machine Learning", "AI and Machine Learning"
        ANALYTICS = "Analytics", "Analytics"
        BUSINESS_APPLICATIONS = "Business Applications", "Business Applications"
        COMPUTE = "Compute", "Compute"
        DATABASES = "Databases", "Databases"
        DEVELOPER_TOOLS = "Developer Tools", "Developer Tools"
        MULTICLOUD = "Multicloud", "Multicloud"
        IDENTITY = "Identity", "Identity"
        INTEGRATION = "Integration", "Integration"
        IOT = "Internet of Things", "Internet of Things"
        MANAGEMENT = "Management and Governance", "Management and Governance"
        MEDIA = "Media", "Media"
        MIGRATION = "Migration", "Migration"
        MOBILE = "Mobile", "Mobile"
        NETWORKING = "Networking", "Networking"
        SECURITY = "Security", "Security"
        STORAGE = "Storage", "Storage"
        WEB = "Web", "Web"
        OTHER = "Other", "Other"

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="skus")
    unit_label = models.CharField(max_length=32)
    service_category = models.CharField(
        max_length=32, choices=ServiceCategory.choices, default=ServiceCategory.OTHER
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code
