// First: everything after may format numbers with navigator.language.
import "./localeGuard";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { createBrowserClient } from "./api/client";
import { App } from "./app/App";
import "./styles.css";

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App client={createBrowserClient()} />
    </StrictMode>,
  );
}
