// The server's wire types, generated from docs/openapi.json into schema.ts (`npm run
// api-types`; CI fails when either is stale). Named here so the rest of the UI imports names,
// not paths into the generated file.
import type { components } from "./schema";

export type Schemas = components["schemas"];

export type Locality = Schemas["Locality"];
export type ModelEntry = Schemas["ModelEntry"];
export type HearthExtension = Schemas["HearthExtension"];
export type Usage = Schemas["Usage"];
export type CandidateOutcome = Schemas["CandidateOutcome"];
export type Session = Schemas["Session"];
export type Thread = Schemas["Thread"];
export type ThreadList = Schemas["ThreadList"];
export type MessageList = Schemas["MessageList"];
export type ComparisonList = Schemas["ComparisonList"];
// Refined by the UI (client.ts) with the meta and columns it stores in them.
export type WireThreadMessage = Schemas["ThreadMessage"];
export type WireComparison = Schemas["Comparison"];
export type WireNewComparison = Schemas["NewComparison"];
