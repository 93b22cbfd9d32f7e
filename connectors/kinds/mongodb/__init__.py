"""mongodb: collections are objects, nested documents flattened, types inferred from samples."""

from ..base import KindForm, KindSpec
from .config import MongoConfig, MongoSecrets

KIND = KindSpec(
    name="mongodb",
    label="MongoDB",
    driver="connectors.kinds.mongodb.driver:MongoDriver",
    config_model=MongoConfig,
    secrets_model=MongoSecrets,
    form=KindForm(tone="green", blurb="Collections become objects; nested documents are flattened."),
    sample_config={"database": "crm", "collections": ["accounts"]},
    sample_secrets={"uri": "mongodb+srv://reader:example@cluster0.example.mongodb.net"},
    inferred_types=True,
)
