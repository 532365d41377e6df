/** The dashboard's entry point (served by `tidemark serve` at /ui/). */
import { render } from "preact";
import { App } from "./app.js";
import "./styles.css";

render(<App />, document.getElementById("app")!);
