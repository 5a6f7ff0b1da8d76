import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider } from "@tanstack/react-router";
import { StrictMode, useEffect } from "react";
import { createRoot } from "react-dom/client";
import { ApiError } from "./api";
import { useSession } from "./auth";
import { router } from "./router";
import "./styles.css";

const retry = (n: number, e: unknown) => !(e instanceof ApiError && e.status < 500) && n < 2;

const queryClient = new QueryClient({
  queryCache: new QueryCache(),
  mutationCache: new MutationCache(),
  defaultOptions: { queries: { staleTime: 30_000, retry, refetchOnWindowFocus: false } },
});

function App() {
  const session = useSession();
  useEffect(() => {
    // Signing in or out (a 401 anywhere) re-runs the route guards.
    if (!session) queryClient.clear();
    void router.invalidate();
  }, [session]);
  return <RouterProvider router={router} context={{ queryClient }} />;
}

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <App />
      </QueryClientProvider>
    </StrictMode>,
  );
}
