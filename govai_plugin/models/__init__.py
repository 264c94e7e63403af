from govai_plugin.models.answers import AnswerJob
from govai_plugin.models.audit import AuditEvent
from govai_plugin.models.clients import ApiClient, CollectionGrant
from govai_plugin.models.knowledge import Chunk, Collection, Document

__all__ = ["AnswerJob", "ApiClient", "AuditEvent", "Chunk", "Collection", "CollectionGrant", "Document"]
