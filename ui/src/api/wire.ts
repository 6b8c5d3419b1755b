// The server's wire types, generated from docs/openapi.json into schema.ts (`npm run
// api-types`; CI fails when either is stale). Named here so the rest of the UI imports names,
// not paths into the generated file.
import type { components } from "./schema";

type Schemas = components["schemas"];

export type Locality = Schemas["Locality"];
export type ModelEntry = Schemas["ModelEntry"];
export type HearthExtension = Schemas["HearthExtension"];
export type Usage = Schemas["Usage"];
export type CandidateOutcome = Schemas["CandidateOutcome"];
