/** The operations of operations.graphql by name, run on the API's one GraphQL endpoint (see
 * `gql` in api.ts). Types come from generated.ts (`npm run codegen`). */
import { gql } from "../api";
import type {
  CostSeriesQuery,
  CostSeriesQueryVariables,
  PeriodsQuery,
  PeriodsQueryVariables,
  RecommendationsQuery,
  RecommendationsQueryVariables,
} from "./generated";
import source from "./operations.graphql?raw";

const ops = new Map<string, string>();
for (const chunk of source.split(/^(?=query |mutation )/m).slice(1)) {
  const name = /^(?:query|mutation)\s+(\w+)/.exec(chunk)?.[1];
  if (name) ops.set(name, chunk.trim());
}

interface Operations {
  Recommendations: [RecommendationsQuery, RecommendationsQueryVariables];
  CostSeries: [CostSeriesQuery, CostSeriesQueryVariables];
  Periods: [PeriodsQuery, PeriodsQueryVariables];
}

export function run<N extends keyof Operations>(name: N, variables: Operations[N][1]): Promise<Operations[N][0]> {
  const text = ops.get(name);
  if (!text) throw new Error(`unknown GraphQL operation ${name}`);
  return gql<Operations[N][0], Operations[N][1]>(text, variables);
}
