export type Maybe<T> = T | null;
export type InputMaybe<T> = Maybe<T>;
export type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
export type MakeOptional<T, K extends keyof T> = Omit<T, K> & { [SubKey in K]?: Maybe<T[SubKey]> };
export type MakeMaybe<T, K extends keyof T> = Omit<T, K> & { [SubKey in K]: Maybe<T[SubKey]> };
export type MakeEmpty<T extends { [key: string]: unknown }, K extends keyof T> = { [_ in K]?: never };
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
/** All built-in and custom scalars, mapped to their actual values */
export type Scalars = {
  ID: { input: string; output: string; }
  String: { input: string; output: string; }
  Boolean: { input: boolean; output: boolean; }
  Int: { input: number; output: number; }
  Float: { input: number; output: number; }
  /** Date (isoformat) */
  Date: { input: string; output: string; }
  /** Date with time (isoformat) */
  DateTime: { input: string; output: string; }
  join__FieldSet: { input: any; output: any; }
  link__Import: { input: any; output: any; }
};

/** A cost answer: rows of decimal strings in column order. */
export type CostAnswer = {
  __typename?: 'CostAnswer';
  cached: Scalars['Boolean']['output'];
  columns: Array<Scalars['String']['output']>;
  dataVersion: Scalars['Int']['output'];
  rows: Array<Array<Maybe<Scalars['String']['output']>>>;
  source: Scalars['String']['output'];
};

/** A filter: dimension in (or not in) values. '' matches null. */
export type CostFilterInput = {
  dimension: Scalars['String']['input'];
  exclude: Scalars['Boolean']['input'];
  values: Array<Scalars['String']['input']>;
};

/** What the planner would run. */
export type CostPlan = {
  __typename?: 'CostPlan';
  reason: Scalars['String']['output'];
  source: Scalars['String']['output'];
  sql: Scalars['String']['output'];
};

/** One point of a resource's cost: money as decimal strings. */
export type CostPoint = {
  __typename?: 'CostPoint';
  billedCost: Scalars['String']['output'];
  currency: Scalars['String']['output'];
  effectiveCost: Scalars['String']['output'];
  period: Scalars['Date']['output'];
};

/** The typed cost question (see GET /v1/costs). */
export type CostQueryInput = {
  end: InputMaybe<Scalars['DateTime']['input']>;
  filters: Array<CostFilterInput>;
  granularity: Scalars['String']['input'];
  groupBy: Array<Scalars['String']['input']>;
  metrics: Array<Scalars['String']['input']>;
  start: InputMaybe<Scalars['DateTime']['input']>;
  topN: InputMaybe<Scalars['Int']['input']>;
};

/** The cost of one resource over time. */
export type CostSeries = {
  __typename?: 'CostSeries';
  /** Points by month (or day), oldest first. */
  points: Array<CostPoint>;
  resourceId: Scalars['ID']['output'];
};


/** The cost of one resource over time. */
export type CostSeriesPointsArgs = {
  end?: InputMaybe<Scalars['DateTime']['input']>;
  granularity?: Scalars['String']['input'];
  start?: InputMaybe<Scalars['DateTime']['input']>;
};

/** One billing file in the ledger. */
export type File = {
  __typename?: 'File';
  attempts: Scalars['Int']['output'];
  fileId: Scalars['ID']['output'];
  firstSeenAt: Scalars['DateTime']['output'];
  landedTotals: Maybe<Array<Money>>;
  lastError: Maybe<Scalars['String']['output']>;
  objectKey: Scalars['String']['output'];
  period: Maybe<Scalars['Date']['output']>;
  rowsIn: Maybe<Scalars['Int']['output']>;
  rowsLanded: Maybe<Scalars['Int']['output']>;
  rowsRejected: Maybe<Scalars['Int']['output']>;
  source: Source;
  sourceId: Scalars['String']['output'];
  sourceTotals: Maybe<Array<Money>>;
  state: Scalars['String']['output'];
  updatedAt: Scalars['DateTime']['output'];
  version: Scalars['String']['output'];
};

export type FileConnection = {
  __typename?: 'FileConnection';
  nextCursor: Maybe<Scalars['String']['output']>;
  nodes: Array<File>;
};

/** An amount in one currency (decimal string). */
export type Money = {
  __typename?: 'Money';
  amount: Scalars['String']['output'];
  currency: Scalars['String']['output'];
};

export type Mutation = {
  __typename?: 'Mutation';
  /** Dismiss: not proposed again unless its savings change materially. */
  dismissRecommendation: Recommendation;
  /** Snooze for `days` days. */
  snoozeRecommendation: Recommendation;
};


export type MutationDismissRecommendationArgs = {
  fingerprint: Scalars['ID']['input'];
  reason: Scalars['String']['input'];
};


export type MutationSnoozeRecommendationArgs = {
  days: Scalars['Int']['input'];
  fingerprint: Scalars['ID']['input'];
  reason: Scalars['String']['input'];
};

/** One version of a billing period (restatements). */
export type PeriodVersion = {
  __typename?: 'PeriodVersion';
  deliveredAt: Scalars['DateTime']['output'];
  files: Scalars['Int']['output'];
  landedTotals: Maybe<Array<Money>>;
  period: Scalars['Date']['output'];
  promotedAt: Maybe<Scalars['DateTime']['output']>;
  rowsLanded: Maybe<Scalars['Int']['output']>;
  sourceId: Scalars['String']['output'];
  state: Scalars['String']['output'];
  version: Scalars['String']['output'];
};

export type Query = {
  __typename?: 'Query';
  /** The cost series of one resource. */
  costSeries: CostSeries;
  /** Ask a cost question (the planner picks a rollup; the cache answers repeats). */
  costs: CostAnswer;
  /** The plan a question would run (runs nothing). */
  explainCosts: CostPlan;
  file: File;
  /** The ledger, most recently updated first. */
  files: FileConnection;
  periods: Array<PeriodVersion>;
  recommendation: Recommendation;
  /** Largest monthly savings first; `after` is the previous page's nextCursor. */
  recommendations: RecommendationConnection;
  source: Source;
  sources: Array<Source>;
};


export type QueryCostSeriesArgs = {
  resourceId: Scalars['ID']['input'];
};


export type QueryCostsArgs = {
  query: CostQueryInput;
  raw?: Scalars['Boolean']['input'];
};


export type QueryExplainCostsArgs = {
  query: CostQueryInput;
  raw?: Scalars['Boolean']['input'];
};


export type QueryFileArgs = {
  fileId: Scalars['ID']['input'];
};


export type QueryFilesArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: Scalars['Int']['input'];
  state?: InputMaybe<Scalars['String']['input']>;
};


export type QueryPeriodsArgs = {
  sourceId?: InputMaybe<Scalars['String']['input']>;
};


export type QueryRecommendationArgs = {
  fingerprint: Scalars['ID']['input'];
};


export type QueryRecommendationsArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: Scalars['Int']['input'];
  kind?: InputMaybe<Scalars['String']['input']>;
  state?: InputMaybe<Array<Scalars['String']['input']>>;
};


export type QuerySourceArgs = {
  id: Scalars['ID']['input'];
};

/** A savings recommendation and its pull request. */
export type Recommendation = {
  __typename?: 'Recommendation';
  /** The cost of this recommendation's resource (from the costs subgraph). */
  cost: CostSeries;
  currency: Scalars['String']['output'];
  fingerprint: Scalars['ID']['output'];
  firstSeen: Scalars['DateTime']['output'];
  kind: Scalars['String']['output'];
  lastSeen: Scalars['DateTime']['output'];
  /** Decimal string. */
  monthlySavings: Scalars['String']['output'];
  period: Scalars['String']['output'];
  prNumber: Maybe<Scalars['Int']['output']>;
  prUrl: Maybe<Scalars['String']['output']>;
  provider: Scalars['String']['output'];
  reason: Maybe<Scalars['String']['output']>;
  resourceId: Scalars['String']['output'];
  resourceType: Maybe<Scalars['String']['output']>;
  state: Scalars['String']['output'];
  title: Scalars['String']['output'];
};

export type RecommendationConnection = {
  __typename?: 'RecommendationConnection';
  nextCursor: Maybe<Scalars['String']['output']>;
  nodes: Array<Recommendation>;
};

/** A billing source: where a tenant's exports arrive. */
export type Source = {
  __typename?: 'Source';
  bucket: Scalars['String']['output'];
  enabled: Scalars['Boolean']['output'];
  /** The source's files, most recently updated first. */
  files: FileConnection;
  id: Scalars['ID']['output'];
  /** Where the objects live: s3, azure-blob, gcs, bigquery, oci-object-storage, alibaba-oss. */
  kind: Scalars['String']['output'];
  layout: Scalars['String']['output'];
  prefix: Scalars['String']['output'];
  provider: Scalars['String']['output'];
  scheduleS: Maybe<Scalars['Int']['output']>;
};


/** A billing source: where a tenant's exports arrive. */
export type SourceFilesArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: Scalars['Int']['input'];
  state?: InputMaybe<Scalars['String']['input']>;
};

export type Join__Graph =
  | 'COSTS'
  | 'INGEST'
  | 'RECOMMENDATIONS';

export type Link__Purpose =
  /** `EXECUTION` features provide metadata necessary for operation execution. */
  | 'EXECUTION'
  /** `SECURITY` features provide metadata necessary to securely resolve fields. */
  | 'SECURITY';

export type RecommendationsQueryVariables = Exact<{
  state: InputMaybe<Array<Scalars['String']['input']> | Scalars['String']['input']>;
  first: Scalars['Int']['input'];
  after: InputMaybe<Scalars['String']['input']>;
}>;


export type RecommendationsQuery = { __typename?: 'Query', recommendations: { __typename?: 'RecommendationConnection', nextCursor: string | null, nodes: Array<{ __typename?: 'Recommendation', fingerprint: string, kind: string, title: string, resourceId: string, resourceType: string | null, provider: string, state: string, monthlySavings: string, currency: string, period: string, firstSeen: string, lastSeen: string, prNumber: number | null, prUrl: string | null, reason: string | null }> } };

export type CostSeriesQueryVariables = Exact<{
  resourceId: Scalars['ID']['input'];
}>;


export type CostSeriesQuery = { __typename?: 'Query', costSeries: { __typename?: 'CostSeries', resourceId: string, points: Array<{ __typename?: 'CostPoint', period: string, billedCost: string, effectiveCost: string, currency: string }> } };

export type PeriodsQueryVariables = Exact<{
  sourceId: InputMaybe<Scalars['String']['input']>;
}>;


export type PeriodsQuery = { __typename?: 'Query', periods: Array<{ __typename?: 'PeriodVersion', sourceId: string, period: string, version: string, state: string, files: number, rowsLanded: number | null, deliveredAt: string, promotedAt: string | null, landedTotals: Array<{ __typename?: 'Money', currency: string, amount: string }> | null }> };
