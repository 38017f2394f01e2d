"""Validates Kubernetes manifests offline against the published schemas, strictly.

- Core kinds (Service, Job) and every core object embedded in a custom
  resource (a JobSet's Job template, a TFJob's pod template, their metadata):
  the strict JSON schemas of the Kubernetes API that PyPI's
  `kubernetes-validate` ships (additionalProperties false: an unknown field
  fails, as do a wrong type and a missing required field).
- JobSet: JobSet's own API types (jobset.x-k8s.io/v1alpha2), as generated
  into PyPI's `kubeflow-trainer-api` (pydantic models with strict types).
  Those models drop unknown fields silently, so a manifest must also come
  back from a round trip through them with nothing lost or changed.
- TFJob: the Kubeflow Training operator's API types (kubeflow.org/v1) from
  PyPI's `kubeflow-training`: every field must be one the model declares
  (`attribute_map`), of the type it declares (`openapi_types`), and the
  model's constructor must accept the values (it rejects missing required
  fields).

```python
from tests.k8s_schemas import validate

validate({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"},
          "spec": {"clusterIP": "None"}})
```
"""

import jsonschema
import kubernetes_validate
import pydantic
import referencing
from kubeflow.training import models as tfjob_models
from kubeflow.training.constants import constants as tfjob_constants
from kubeflow_trainer_api.models.jobset_v1alpha2_job_set import JobsetV1alpha2JobSet
from kubernetes_validate.utils import schema_contents

# The oldest and newest Kubernetes the manifests must be valid for
# (podFailurePolicy is stable from 1.31).
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")
JOBSET_API_VERSION = "jobset.x-k8s.io/v1alpha2"
# Core types a TFJob model names, and their schema files in kubernetes-validate.
TFJOB_CORE_SCHEMAS = {
    "V1ObjectMeta": "objectmeta-meta-v1.json",
    "V1PodTemplateSpec": "podtemplatespec-v1.json",
}


class SchemaError(AssertionError):
    """A manifest that the published schema rejects."""


def validate(manifest):
    """Raises `SchemaError` unless `manifest` is valid for its kind (see the docstring)."""
    kind = manifest.get("kind")
    if kind == "JobSet":
        validate_jobset(manifest)
    elif kind == "TFJob":
        validate_tfjob(manifest)
    else:
        validate_core(manifest)


def validate_core(manifest):
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            raise SchemaError(_where(error, manifest, version)) from None
        except kubernetes_validate.SchemaNotFoundError as error:
            raise SchemaError(error.message) from None


def validate_core_part(value, schema_file, path):
    """`value` against one core type's strict schema (e.g. "podtemplatespec-v1.json")."""
    for version in KUBERNETES_VERSIONS:
        directory = f"kubernetes-json-schema/v{version}-local-strict"
        schema = schema_contents(f"{directory}/{schema_file}", version)
        definitions = schema_contents(f"{directory}/_definitions.json", version)
        registry = referencing.Registry().with_resources(
            [
                ("", referencing.Resource.from_contents(schema)),
                ("_definitions.json", referencing.Resource.from_contents(definitions)),
            ]
        )
        validator = jsonschema.Draft202012Validator(schema, registry=registry)
        errors = sorted(validator.iter_errors(value), key=lambda error: list(error.path))
        if errors:
            located = ".".join(str(part) for part in errors[0].absolute_path)
            raise SchemaError(f"{path}.{located} (Kubernetes {version}): {errors[0].message}")


def validate_jobset(manifest):
    if manifest.get("apiVersion") != JOBSET_API_VERSION:
        raise SchemaError(f"JobSet apiVersion {manifest.get('apiVersion')!r}")
    try:
        model = JobsetV1alpha2JobSet.from_dict(manifest)
    except (ValueError, TypeError) as error:
        raise SchemaError(f"JobSet: {error}") from None
    missing = _missing_required(model, manifest)
    if missing:
        raise SchemaError(f"JobSet: required fields missing: {missing}")
    # The round trip may add defaults (a port's protocol); it must lose or change nothing.
    lost = _lost(manifest, model.to_dict())
    if lost:
        raise SchemaError(f"JobSet: fields the JobSet API does not have or reads otherwise: {lost}")
    for index, replicated in enumerate(manifest["spec"]["replicatedJobs"]):
        validate_core_part(
            replicated["template"],
            "jobtemplatespec-batch-v1.json",
            f"spec.replicatedJobs.{index}.template",
        )


def validate_tfjob(manifest):
    if manifest.get("apiVersion") != tfjob_constants.API_VERSION:
        raise SchemaError(f"TFJob apiVersion {manifest.get('apiVersion')!r}")
    if manifest.get("kind") != tfjob_constants.TFJOB_KIND:
        raise SchemaError(f"TFJob kind {manifest.get('kind')!r}")
    _check_model(tfjob_models.KubeflowOrgV1TFJob, manifest, "TFJob")


def _check_model(model_class, value, path):
    if not isinstance(value, dict):
        raise SchemaError(f"{path}: {type(value).__name__}, not an object")
    attribute_of = {key: attribute for attribute, key in model_class.attribute_map.items()}
    unknown = sorted(set(value) - set(attribute_of))
    if unknown:
        raise SchemaError(f"{path}: unknown fields {unknown} for {model_class.__name__}")
    arguments = {
        attribute_of[key]: _check_type(
            model_class.openapi_types[attribute_of[key]], item, f"{path}.{key}"
        )
        for key, item in value.items()
    }
    try:
        return model_class(**arguments)
    except ValueError as error:
        raise SchemaError(f"{path}: {error}") from None


def _check_type(type_name, value, path):
    primitives = {"str": str, "int": int, "bool": bool, "float": (int, float)}
    if type_name in primitives:
        expected = primitives[type_name]
        if not isinstance(value, expected) or (type_name == "int" and isinstance(value, bool)):
            raise SchemaError(f"{path}: {value!r} is not {type_name}")
        return value
    if type_name.startswith("dict(str, "):
        if not isinstance(value, dict):
            raise SchemaError(f"{path}: not an object")
        item_type = type_name[len("dict(str, ") : -1]
        return {key: _check_type(item_type, item, f"{path}.{key}") for key, item in value.items()}
    if type_name.startswith("list["):
        if not isinstance(value, list):
            raise SchemaError(f"{path}: not a list")
        return [_check_type(type_name[5:-1], item, f"{path}.{i}") for i, item in enumerate(value)]
    if type_name in TFJOB_CORE_SCHEMAS:
        validate_core_part(value, TFJOB_CORE_SCHEMAS[type_name], path)
        return value
    model_class = getattr(tfjob_models, type_name, None)
    if model_class is None:
        raise SchemaError(f"{path}: the TFJob models name a type {type_name!r} not checked here")
    return _check_model(model_class, value, path)


def _missing_required(model, value, path=""):
    """Required fields of the pydantic `model` tree absent from `value` (from_dict fills
    some of them with defaults, e.g. a replicated Job's name with '')."""
    if isinstance(model, list):
        return [
            m
            for i, item in enumerate(model)
            for m in _missing_required(item, value[i], f"{path}{i}.")
        ]
    if isinstance(model, dict):
        return [
            m
            for key, item in model.items()
            for m in _missing_required(item, value[key], f"{path}{key}.")
        ]
    if not isinstance(model, pydantic.BaseModel):
        return []
    missing = []
    for name, field in type(model).model_fields.items():
        key = field.alias or name
        if key not in value:
            missing += [f"{path}{key}"] if field.is_required() else []
        else:
            missing += _missing_required(getattr(model, name), value[key], f"{path}{key}.")
    return missing


def _where(error, manifest, version):
    located = ".".join(str(part) for part in error.absolute_path)
    return f"{manifest.get('kind')}.{located} (Kubernetes {version}): {error.message}"


def _lost(original, kept, path=""):
    """Paths in `original` that the round trip through the models dropped or changed."""
    if isinstance(original, dict) and isinstance(kept, dict):
        return [
            lost
            for key, value in original.items()
            for lost in (
                [f"{path}{key}"] if key not in kept else _lost(value, kept[key], f"{path}{key}.")
            )
        ]
    if isinstance(original, list) and isinstance(kept, list) and len(original) == len(kept):
        return [
            lost
            for index, (a, b) in enumerate(zip(original, kept))
            for lost in _lost(a, b, f"{path}{index}.")
        ]
    return [] if original == kept else [path.rstrip(".")]
