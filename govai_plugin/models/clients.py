"""Client systems that call the API, and the collections each may use."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.db import models

from govai_plugin.models.knowledge import Collection

KEY_PREFIX = "govai"


def hash_key(secret: str) -> str:
    # Keys are 256-bit random strings, so a fast hash is enough (no dictionary to guess from).
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiClient(models.Model):
    """A client system (a portal, a case system, another agency) with an API key.

    Only a hash of the key is stored; the key is shown once when created.
    """

    name = models.CharField(max_length=200, unique=True)
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    is_active = models.BooleanField(default=True)
    #: May create collections and is granted them automatically.
    can_create_collections = models.BooleanField(default=False)
    #: May read case suggestions and record caseworkers' decisions on them.
    can_review_suggestions = models.BooleanField(default=False)
    collections = models.ManyToManyField(Collection, through="CollectionGrant", related_name="clients")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    # DRF's IsAuthenticated looks at request.user.is_authenticated.
    is_authenticated = True
    is_anonymous = False

    @classmethod
    def create_with_key(cls, name: str, **fields) -> tuple[ApiClient, str]:
        """Create a client; returns it and its key, which is not stored."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        client = cls.objects.create(name=name, key_id=key_id, key_hash=hash_key(secret), **fields)
        return client, f"{KEY_PREFIX}_{key_id}_{secret}"

    def rotate_key(self) -> str:
        secret = secrets.token_urlsafe(32)
        self.key_hash = hash_key(secret)
        self.save(update_fields=["key_hash"])
        return f"{KEY_PREFIX}_{self.key_id}_{secret}"

    def key_matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.key_hash, hash_key(secret))


class CollectionGrant(models.Model):
    """What a client may do with a collection."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="grants")
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="grants")
    can_read = models.BooleanField(default=True)
    can_write = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "collection"], name="govai_grant_unique")]

    def __str__(self) -> str:
        mode = "rw" if self.can_write else "r"
        return f"{self.client} → {self.collection} ({mode})"
